import { type ChatClient, ChatError, type SearchResult } from '@agent-chat/client';
import { Fragment, type KeyboardEvent, type ReactNode, useEffect, useId, useRef, useState } from 'react';

/** How long typing must pause before a search is sent. */
const DEBOUNCE_MS = 200;

export interface SearchBoxProps {
  client: ChatClient;
  /** A result was chosen: open its conversation at its message. */
  onOpen(result: SearchResult): void;
}

/** The snippet with its highlight ranges (code points, SPEC §10) in <mark>: text only, never HTML from the server. */
function Snippet({ text, highlights }: SearchResult['snippet']) {
  const chars = [...text];
  const out: ReactNode[] = [];
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at || end > chars.length) continue;
    out.push(chars.slice(at, start).join(''), <mark key={start}>{chars.slice(start, end).join('')}</mark>);
    at = end;
  }
  out.push(chars.slice(at).join(''));
  return (
    <span className="snippet">
      {out.map((node, i) =>
        // biome-ignore lint/suspicious/noArrayIndexKey: the pieces of one snippet never reorder
        typeof node === 'string' ? <Fragment key={i}>{node}</Fragment> : node,
      )}
    </span>
  );
}

/**
 * The sidebar's search (Ctrl/Cmd+K): results as the person types, arrows to move, Enter to open the conversation
 * at the found message, Escape to clear.
 */
export function SearchBox({ client, onOpen }: SearchBoxProps) {
  const [text, setText] = useState('');
  const [results, setResults] = useState<SearchResult[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [active, setActive] = useState(0);
  const [state, setState] = useState<'idle' | 'loading' | 'done'>('idle');
  const [problem, setProblem] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  /** Answers to an older query are dropped: only the latest request may set the results. */
  const latest = useRef(0);
  const listId = useId();
  const query = text.trim();

  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (e.key.toLowerCase() !== 'k' || !(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return;
      e.preventDefault();
      input.current?.focus();
      input.current?.select();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const run = async (more: string | null) => {
    const ask = ++latest.current;
    setState('loading');
    try {
      const page = await client.search(query, { limit: 20, cursor: more });
      if (ask !== latest.current) return;
      setResults((shown) => (more ? [...shown, ...page.results] : page.results));
      setCursor(page.next_cursor);
      if (!more) setActive(0);
      setProblem(null);
    } catch (error) {
      if (ask !== latest.current) return;
      setProblem(error instanceof ChatError ? error.message : 'Search failed.');
    }
    setState('done');
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: a search runs when the query text changes, only then
  useEffect(() => {
    if (!query) {
      latest.current++;
      setResults([]);
      setCursor(null);
      setState('idle');
      setProblem(null);
      return;
    }
    const timer = setTimeout(() => void run(null), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);

  const open = (result: SearchResult | undefined) => {
    if (!result) return;
    onOpen(result);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const step = e.key === 'ArrowDown' ? 1 : -1;
      setActive((i) => Math.min(Math.max(i + step, 0), Math.max(results.length - 1, 0)));
    } else if (e.key === 'Enter') {
      e.preventDefault();
      open(results[active]);
    } else if (e.key === 'Escape' && text) {
      e.preventDefault();
      e.stopPropagation();
      setText('');
    }
  };

  const optionId = (i: number) => `${listId}-${i}`;
  const expanded = query.length > 0;

  return (
    <div className="search">
      <input
        ref={input}
        type="search"
        className="search-input"
        placeholder="Search (Ctrl+K)"
        aria-label="Search conversations"
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={expanded}
        aria-controls={expanded ? listId : undefined}
        aria-activedescendant={expanded && results[active] ? optionId(active) : undefined}
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
        onKeyDown={onKeyDown}
      />
      {expanded && (
        <div className="search-results">
          <div id={listId} role="listbox" aria-label="Search results">
            {results.map((r, i) => (
              // biome-ignore lint/a11y/useKeyWithClickEvents: the keyboard works from the combobox (arrows, Enter)
              <div
                key={r.message.id}
                id={optionId(i)}
                role="option"
                tabIndex={-1}
                aria-selected={i === active}
                className={`search-result${i === active ? ' active' : ''}`}
                onMouseEnter={() => setActive(i)}
                onClick={() => open(r)}
              >
                <span className="result-title">{r.conversation.title}</span>
                <Snippet {...r.snippet} />
              </div>
            ))}
          </div>
          <p className="list-status" aria-live="polite">
            {state === 'loading'
              ? 'Searching…'
              : state === 'done' && results.length === 0 && !problem
                ? 'No matches.'
                : ''}
          </p>
          {problem && (
            <p className="list-error" role="alert">
              {problem}
            </p>
          )}
          {cursor && state !== 'loading' && (
            <button type="button" className="link" onClick={() => void run(cursor)}>
              More results
            </button>
          )}
        </div>
      )}
    </div>
  );
}
