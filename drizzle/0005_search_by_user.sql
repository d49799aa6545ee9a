-- Search reads only the searcher's matches: the owner is copied onto each message (a conversation never changes
-- owner) and one GIN index covers (user_id, search_vector). btree_gin gives text a GIN operator class; it is a
-- trusted contrib extension (Neon lists it), so the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gin;--> statement-breakpoint
DROP INDEX "conversation_messages_search_idx";--> statement-breakpoint
ALTER TABLE "conversation_messages" ADD COLUMN "user_id" text;--> statement-breakpoint
UPDATE "conversation_messages" m SET "user_id" = c."user_id"
FROM "conversation_states" c
WHERE c."id" = m."conversation_id";--> statement-breakpoint
ALTER TABLE "conversation_messages" ALTER COLUMN "user_id" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "conversation_messages_user_search_idx" ON "conversation_messages" USING gin ("user_id","search_vector");
