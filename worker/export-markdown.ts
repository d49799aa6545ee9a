/**
 * A conversation as Markdown a person reads (SPEC §10): the title, then each message of the active branch with who
 * wrote it and when; the agent's own Markdown (code, tables) kept as it is; tool calls, their input and output as
 * fenced blocks; reasoning as a quote.
 */
import type { ConversationExport, ExportedMessage } from './wire';

type Part = ExportedMessage['parts'][number];

/** A fence longer than any run of backticks in `text`, so the text cannot close it. */
function fence(text: string, lang = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const marks = '`'.repeat(longest + 1);
  return `${marks}${lang}\n${text}\n${marks}`;
}

const json = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));
const when = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

function toolName(part: Part): string | null {
  if (part.type === 'dynamic-tool') return String(part.toolName ?? 'tool');
  return part.type.startsWith('tool-') ? part.type.slice('tool-'.length) : null;
}

function partMarkdown(part: Part): string | null {
  if (part.type === 'text') return String(part.text ?? '');
  if (part.type === 'reasoning') {
    const text = String(part.text ?? '').trim();
    return text ? `> **Reasoning**\n${text.replace(/^/gm, '> ')}` : null;
  }
  const tool = toolName(part);
  if (tool) {
    const blocks = [`**Tool call: \`${tool}\`** (${String(part.state ?? 'called')})`];
    if (part.input !== undefined) blocks.push(`Input:\n\n${fence(json(part.input), 'json')}`);
    if (part.output !== undefined) blocks.push(`Output:\n\n${fence(json(part.output), 'json')}`);
    if (part.errorText !== undefined) blocks.push(`Error:\n\n${fence(String(part.errorText))}`);
    return blocks.join('\n\n');
  }
  if (part.type === 'source-url') return `Source: <${String(part.url ?? '')}>`;
  if (part.type === 'file') return `File: ${String(part.filename ?? part.url ?? '')}`;
  return null;
}

function messageMarkdown(m: ExportedMessage): string {
  const who = m.role === 'user' ? 'You' : 'Agent';
  const body =
    m.role === 'user'
      ? m.content
      : m.parts
          .map(partMarkdown)
          .filter((s): s is string => s !== null && s.trim() !== '')
          .join('\n\n') || m.content;
  const status = m.status === 'complete' ? '' : `\n\n_(${m.status === 'error' ? 'the reply failed' : m.status})_`;
  return `## ${who} · ${when(m.created_at)}\n\n${body}${status}`;
}

export function exportMarkdown(data: ConversationExport): string {
  const byId = new Map(data.messages.map((m) => [m.id, m]));
  const branch = data.active_branch.map((id) => byId.get(id)).filter((m): m is ExportedMessage => m !== undefined);
  const head = `# ${data.conversation.title}\n\n_Exported ${when(data.exported_at)} · ${branch.length} messages_`;
  return `${[head, ...branch.map(messageMarkdown)].join('\n\n---\n\n')}\n`;
}

/** `Content-Disposition` for a download named after the title (ASCII fallback, and the title itself in UTF-8). */
export function attachment(title: string, extension: string): string {
  const ascii =
    title
      .replace(/[^A-Za-z0-9 ._-]+/g, '')
      .trim()
      .slice(0, 80) || 'conversation';
  return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${encodeURIComponent(`${title.slice(0, 80)}.${extension}`)}`;
}
