/**
 * Imported first by main.tsx, before any schema runs: zod probes for `new Function` (to compile parsers) on first
 * use, and under the page's CSP (script-src 'self', no eval) that probe is refused and reported as a violation.
 * Interpreted parsing is fast enough for our frames.
 */
import { z } from 'zod';

z.config({ jitless: true });
