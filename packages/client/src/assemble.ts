/** The one `ai` utility the page uses, in its own module so the lazy chunk holds only what it needs. */
export { readUIMessageStream } from 'ai';
