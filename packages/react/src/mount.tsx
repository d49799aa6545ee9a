import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { AgentChat, type AgentChatProps } from './AgentChat';
import type { ClientProps } from './ChatPane';

export type MountOptions = AgentChatProps & ClientProps;

export interface MountedChat {
  /** New options (a conversation to show, another theme); those not given stay as they were. */
  update(options: Partial<MountOptions>): void;
  unmount(): void;
}

/** The whole chat in `element`, for hosts without React (the page still loads React, bundled with this entry). */
export function mount(element: Element, options: MountOptions): MountedChat {
  const root = createRoot(element);
  let current = options;
  const render = () =>
    root.render(
      <StrictMode>
        <AgentChat {...current} />
      </StrictMode>,
    );
  render();
  return {
    update(next) {
      current = { ...current, ...next } as MountOptions;
      render();
    },
    unmount: () => root.unmount(),
  };
}
