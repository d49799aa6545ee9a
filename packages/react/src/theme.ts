/** Light, dark, or the host's: the theme the component's root carries as `data-theme`. */
import { type RefObject, useLayoutEffect, useState } from 'react';

/** `auto` follows the host: its `color-scheme` where it sets one to light or dark, else the system setting. */
export type Theme = 'light' | 'dark' | 'auto';

function hostScheme(root: HTMLElement | null): 'light' | 'dark' {
  const host = root?.parentElement;
  const scheme = host ? getComputedStyle(host).colorScheme : '';
  const words = scheme.split(/\s+/);
  if (words.includes('dark') && !words.includes('light')) return 'dark';
  if (words.includes('light') && !words.includes('dark')) return 'light';
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function useResolvedTheme(theme: Theme, root: RefObject<HTMLElement | null>): 'light' | 'dark' {
  const [auto, setAuto] = useState<'light' | 'dark'>('light');
  useLayoutEffect(() => {
    if (theme !== 'auto') return;
    const update = () => setAuto(hostScheme(root.current));
    update();
    const media = matchMedia('(prefers-color-scheme: dark)');
    media.addEventListener('change', update);
    // A host switches its theme with a class, an attribute or a style on <html> or <body>.
    const observer = new MutationObserver(update);
    for (const node of [document.documentElement, document.body]) {
      observer.observe(node, { attributes: true, attributeFilter: ['class', 'style', 'data-theme'] });
    }
    return () => {
      media.removeEventListener('change', update);
      observer.disconnect();
    };
  }, [theme, root]);
  return theme === 'auto' ? auto : theme;
}
