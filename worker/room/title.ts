const MAX_TITLE = 80;

/** A conversation's automatic title: its first message, without a leading `!dev` line, trimmed, ≤ 80 characters. */
export function titleFromContent(content: string): string | null {
  const withoutDev = content.replace(/^\s*!dev\b[^\n]*(\n|$)/, '');
  const oneLine = withoutDev.replace(/\s+/g, ' ').trim();
  if (!oneLine) return null;
  const chars = [...oneLine];
  return chars.length <= MAX_TITLE
    ? oneLine
    : `${chars
        .slice(0, MAX_TITLE - 1)
        .join('')
        .trimEnd()}…`;
}
