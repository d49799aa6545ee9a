import { useStrings } from './strings';

/**
 * Says that a conversation has a live share link (SPEC §10): a link icon and a word in its header; in its list row
 * (`compact`) the icon alone, the word kept for screen readers.
 */
export function SharedMark({ compact = false }: { compact?: boolean }) {
  const strings = useStrings();
  return (
    <span className={`shared-mark${compact ? ' compact' : ''}`} title={strings.sharedMarkTitle}>
      <svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
        <path
          d="M6.5 9.5l3-3M7 4.5l1.2-1.2a2.5 2.5 0 013.5 3.5L10.5 8M9 11.5l-1.2 1.2a2.5 2.5 0 01-3.5-3.5L5.5 8"
          fill="none"
          stroke="currentColor"
          strokeWidth="1.4"
          strokeLinecap="round"
        />
      </svg>
      <span className={compact ? 'visually-hidden' : undefined}>{strings.sharedMark}</span>
    </span>
  );
}
