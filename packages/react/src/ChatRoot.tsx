import { type ReactNode, useMemo, useRef } from 'react';
import { ImageOriginsContext, imageOrigins } from './markdown/image-policy';
import { type ChatStrings, ENGLISH, StringsContext } from './strings';
import { type Theme, useResolvedTheme } from './theme';

export interface ChatLookProps {
  /** `auto` (default) follows the host's color-scheme, else the system; the colors are the `--*` properties in styles.css. */
  theme?: Theme;
  strings?: Partial<ChatStrings>;
  className?: string;
  /**
   * Origins images in agent replies may load from (the server's ALLOWED_IMAGE_ORIGINS); none by default. Any
   * other image is shown as a link naming its host, so a reply cannot make the browser send data anywhere.
   */
  allowedImageOrigins?: readonly string[];
}

/** The root every component renders in: the scope of the styles (`.agent-chat`), the theme and the strings. */
export function ChatRoot({
  theme = 'auto',
  strings,
  className,
  allowedImageOrigins,
  children,
}: ChatLookProps & { children: ReactNode }) {
  const root = useRef<HTMLDivElement>(null);
  const resolved = useResolvedTheme(theme, root);
  const words = useMemo(() => ({ ...ENGLISH, ...strings }), [strings]);
  const origins = useMemo(() => imageOrigins(allowedImageOrigins), [allowedImageOrigins]);
  return (
    <div ref={root} className={className ? `agent-chat ${className}` : 'agent-chat'} data-theme={resolved}>
      <StringsContext.Provider value={words}>
        <ImageOriginsContext.Provider value={origins}>{children}</ImageOriginsContext.Provider>
      </StringsContext.Provider>
    </div>
  );
}
