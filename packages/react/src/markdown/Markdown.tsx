import { preloadAssembler } from '@agent-chat/client';
import { lazy, Suspense } from 'react';

const loadView = () => import('./StreamdownView');
const StreamdownView = lazy(loadView);

/** Fetch the renderer and the stream assembler while the page is idle, so the first reply does not wait. */
export function preloadMarkdown(): void {
  const idle = window.requestIdleCallback ?? ((fn: () => void) => setTimeout(fn, 200));
  idle(() => {
    void loadView();
    void preloadAssembler();
  });
}

export function Markdown({ text, streaming }: { text: string; streaming: boolean }) {
  return (
    <Suspense fallback={<div className="markdown plain">{text}</div>}>
      <StreamdownView text={text} streaming={streaming} />
    </Suspense>
  );
}
