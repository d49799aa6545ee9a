import type { ComponentProps } from 'react';
import { useImageSource } from './image-policy';

/** Markdown's `img`: loaded only from an allowed origin (image-policy.ts); otherwise a link naming its host. */
export function SafeImage({ src, alt }: ComponentProps<'img'>) {
  const source = useImageSource(src);
  const label = alt?.trim() || 'image';
  if (!source) return <span className="image-blocked">{label}</span>;
  if (source.allowed) {
    return <img src={source.url.href} alt={alt ?? ''} loading="lazy" referrerPolicy="no-referrer" />;
  }
  return (
    <a
      className="image-link"
      href={source.url.href}
      target="_blank"
      rel="noopener noreferrer nofollow"
      title={`An image from ${source.url.host}, not loaded`}
    >
      {label} <span className="image-host">({source.url.host})</span>
    </a>
  );
}

/** `<picture><source srcset>` would load its candidates before the `img` is considered: never rendered. */
export function NoSource() {
  return null;
}
