import { type ReactNode, useId, useState } from 'react';
import { type ClientProps, useClientFrom } from './ChatPane';
import { type ChatLookProps, ChatRoot } from './ChatRoot';
import { ConversationView } from './ConversationView';
import { useArchivedIndex, useConversationIndex, useLiveConversation } from './hooks';
import { Sidebar } from './Sidebar';
import { useStrings } from './strings';

export interface AgentChatProps extends ChatLookProps {
  /** Controlled: the conversation shown (null: a new chat). Leave undefined to let the component keep it. */
  conversationId?: string | null;
  onConversationChange?: (id: string | null) => void;
  /** Links for the sidebar's rows, for hosts that route (`/chat/${id}`); the component never navigates itself. */
  hrefFor?: (id: string) => string;
  /** Shown at the end of the header (who is signed in, a sign-out button). */
  headerEnd?: ReactNode;
}

/** The whole chat: a header, the conversation list and the pane of the open conversation. */
export function AgentChat(props: AgentChatProps & ClientProps) {
  return (
    <ChatRoot
      theme={props.theme}
      strings={props.strings}
      className={props.className}
      allowedImageOrigins={props.allowedImageOrigins}
    >
      <WholeChat {...props} />
    </ChatRoot>
  );
}

function WholeChat(props: AgentChatProps & ClientProps) {
  const client = useClientFrom(props);
  const strings = useStrings();
  const index = useConversationIndex(client);
  const archivedIndex = useArchivedIndex(client);
  const [ownId, setOwnId] = useState<string | null>(null);
  const controlled = props.conversationId !== undefined;
  const activeId = controlled ? (props.conversationId ?? null) : ownId;
  const [drawerOpen, setDrawerOpen] = useState(false);
  /** The message a search result opened, shown marked in its conversation. */
  const [found, setFound] = useState<string | null>(null);
  const sidebarId = useId();

  const select = (id: string | null, foundMessage: string | null = null) => {
    setFound(foundMessage);
    setDrawerOpen(false);
    if (!controlled) setOwnId(id);
    props.onConversationChange?.(id);
  };

  const live = useLiveConversation(client, activeId, {
    created: (id) => {
      void index.add(id);
      select(id);
    },
    conversation: (c) => {
      index.upsert(c);
      archivedIndex.upsert(c);
    },
    activity: (id, at, streaming) => index.touch(id, at, streaming),
    deleted: (id) => {
      index.forget(id);
      archivedIndex.forget(id);
    },
  });

  return (
    <div className={`app${drawerOpen ? ' drawer-open' : ''}`}>
      <header className="topbar">
        <button
          type="button"
          className="drawer-toggle"
          aria-expanded={drawerOpen}
          aria-controls={sidebarId}
          onClick={() => setDrawerOpen((open) => !open)}
        >
          ☰ <span className="visually-hidden">{strings.conversations}</span>
        </button>
        <span className="brand">{strings.brand}</span>
        {props.headerEnd && <span className="who">{props.headerEnd}</span>}
      </header>
      <div id={sidebarId} className="sidebar-wrap">
        <Sidebar
          index={index}
          archivedIndex={archivedIndex}
          activeId={activeId}
          onSelect={select}
          hrefFor={props.hrefFor}
          search={{ client, onOpen: (r) => select(r.conversation.id, r.message.id) }}
          onExport={async (id, format) => saveFile(await client.exportConversation(id, format))}
          onShare={async (id, share) => {
            if (!share) return client.unshare(id).then(() => null);
            return (await client.share(id)).url;
          }}
        />
      </div>
      {live && <ConversationView key={live.instance} store={live} foundId={found} onNewChat={() => select(null)} />}
    </div>
  );
}

/** Hands a file to the browser's downloads. */
function saveFile({ blob, filename }: { blob: Blob; filename: string }): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
