import { Hono } from 'hono';

export { ConversationRoom } from './room/conversation-room';
export { UserQuota } from './room/user-quota';

const app = new Hono<{ Bindings: Env }>();
export default app;
