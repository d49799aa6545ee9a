import { startAiSdkRoute } from './dev/ai-sdk-route';

const r = await startAiSdkRoute();
for (const text of ['weather Paris', 'think hard', 'fail', 'hello there']) {
  const res = await fetch(r.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'c',
      trigger: 'submit-message',
      conversation_id: 'c',
      messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text }] }],
    }),
  });
  console.log(res.status, [...res.headers].map((h) => h.join(':')).join(' '));
  console.log(await res.text());
}
await r.close();
