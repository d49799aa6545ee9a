/** The heavy half of message rendering (Streamdown + unified/remark/rehype), split off the initial bundle. */
import { Streamdown } from 'streamdown';
import { codeHighlighter } from './highlighter';
import { NoSource, SafeImage } from './SafeImage';

const plugins = { code: codeHighlighter };
const controls = { code: { copy: true, download: false }, table: false, mermaid: false, image: false } as const;
const linkSafety = { enabled: false };
// Nothing in a reply loads from an origin the page does not allow (SafeImage.tsx).
const components = { img: SafeImage, source: NoSource };

// One mode for the whole life of a message: switching to 'static' when a reply ends remounts the blocks
// and blanks the text for a frame.
export default function StreamdownView({ text, streaming }: { text: string; streaming: boolean }) {
  return (
    <Streamdown
      className="markdown"
      plugins={plugins}
      components={components}
      controls={controls}
      linkSafety={linkSafety}
      isAnimating={streaming}
      // Repairing incomplete Markdown is for text still arriving: on a finished reply it turned `12*(3+4)` into
      // `12*(3+4)*`.
      parseIncompleteMarkdown={streaming}
      lineNumbers={false}
    >
      {text}
    </Streamdown>
  );
}
