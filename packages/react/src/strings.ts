/** The component's words, for hosts in another language; any left out stay English. */
import { createContext, useContext } from 'react';

export interface ChatStrings {
  /** The whole chat's header. */
  brand: string;
  /** The drawer button's label on narrow screens. */
  conversations: string;
  newChat: string;
  signedOutTitle: string;
  signedOutBody: string;
  tryAgain: string;
}

export const ENGLISH: ChatStrings = {
  brand: 'Agent chat',
  conversations: 'Conversations',
  newChat: '+ New chat',
  signedOutTitle: 'You are signed out',
  signedOutBody: 'No sign-in could be obtained for the chat.',
  tryAgain: 'Try again',
};

export const StringsContext = createContext<ChatStrings>(ENGLISH);

export const useStrings = (): ChatStrings => useContext(StringsContext);
