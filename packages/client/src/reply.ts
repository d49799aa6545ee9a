/** One streaming assistant reply, assembled from its numbered chunks by the `ai` package. */
import type { UIMessage, UIMessageChunk } from 'ai';
import type { Chunk } from '../../../worker/wire';

let assembler: Promise<typeof import('./assemble')> | null = null;
/** Loads the stream assembler (the `ai` package) ahead of the first reply, e.g. while the page is idle. */
export function preloadAssembler(): Promise<typeof import('./assemble')> {
  assembler ??= import('./assemble');
  return assembler;
}

export type ChunkOutcome = 'applied' | 'duplicate' | 'gap';

export class LiveReply {
  /** How many chunks (0 = `start`) have been applied; the next index expected. */
  nextIndex = 0;
  parts: UIMessage['parts'] = [];
  private readonly feed: ReadableStreamDefaultController<UIMessageChunk>;
  private ended = false;

  constructor(
    readonly messageId: string,
    private readonly onChange: () => void,
  ) {
    let feed: ReadableStreamDefaultController<UIMessageChunk> | undefined;
    const stream = new ReadableStream<UIMessageChunk>({
      start: (controller) => {
        feed = controller;
      },
    });
    if (!feed) throw new Error('ReadableStream did not start synchronously');
    this.feed = feed;
    void this.assemble(stream);
  }

  /**
   * Chunks arrive over several paths at once (socket, SSE, a resume after a reconnect); the index is the
   * only thing that keeps a word from being shown twice or skipped.
   */
  accept(index: number, chunk: Chunk): ChunkOutcome {
    if (index < this.nextIndex) return 'duplicate';
    if (index > this.nextIndex) return 'gap';
    this.nextIndex++;
    if (!this.ended) this.feed.enqueue(chunk as UIMessageChunk);
    return 'applied';
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.feed.close();
  }

  private async assemble(stream: ReadableStream<UIMessageChunk>): Promise<void> {
    // Loaded on the first reply, not with the page (≈26 KB gzip); chunks wait in the stream meanwhile.
    const { readUIMessageStream } = await preloadAssembler();
    // An `error` chunk is reported by the final message frame; here it only must not stop the assembly.
    for await (const message of readUIMessageStream({ stream, onError: () => {} })) {
      this.parts = message.parts;
      this.onChange();
    }
  }
}
