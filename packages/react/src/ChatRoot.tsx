import { type ReactNode, useMemo, useRef } from 'react';
import { type ChatStrings, ENGLISH, StringsContext } from './strings';
import { type Theme, useResolvedTheme } from './theme';

export interface ChatLookProps {
  /** `auto` (default) follows the host's color-scheme, else the system; the colors are the `--*` properties in styles.css. */
  theme?: Theme;
  strings?: Partial<ChatStrings>;
  className?: string;
}

/** The root every component renders in: the scope of the styles (`.agent-chat`), the theme and the strings. */
export function ChatRoot({ theme = 'auto', strings, className, children }: ChatLookProps & { children: ReactNode }) {
  const root = useRef<HTMLDivElement>(null);
  const resolved = useResolvedTheme(theme, root);
  const words = useMemo(() => ({ ...ENGLISH, ...strings }), [strings]);
  return (
    <div ref={root} className={className ? `agent-chat ${className}` : 'agent-chat'} data-theme={resolved}>
      <StringsContext.Provider value={words}>{children}</StringsContext.Provider>
    </div>
  );
}
