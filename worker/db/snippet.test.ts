import { describe, expect, it } from 'vitest';
import { snippetOf, wantedWords } from './snippet';

const cut = (text: string, [s, e]: [number, number]) => [...text].slice(s, e).join('');

describe('search snippets', () => {
  it('asks for the words of phrases and bare words, not excluded ones nor the or operator', () => {
    expect(wantedWords('"Red Apple" pie -green -"big tree" OR Мир')).toEqual(['red', 'apple', 'pie', 'мир']);
    expect(wantedWords('-only -"excluded words"')).toEqual([]);
    expect(wantedWords('!!! ...')).toEqual([]);
  });

  it('cuts long text around the first found word, with an ellipsis where it cut, ranges in code points', () => {
    const content = `${'𝒜 lead '.repeat(30)}\n\nthe NEEDLE is here ${'tail '.repeat(100)}`;
    const s = snippetOf(content, ['needle']);
    expect(s.text.startsWith('…')).toBe(true);
    expect(s.text.endsWith('…')).toBe(true);
    expect([...s.text].length).toBeLessThanOrEqual(202);
    expect(s.text).not.toContain('\n');
    expect(s.highlights.map((h) => cut(s.text, h))).toEqual(['NEEDLE']);
  });

  it('starts at the beginning when nothing in the text is found (a title match)', () => {
    expect(snippetOf('short text', ['other'])).toEqual({ text: 'short text', highlights: [] });
  });
});
