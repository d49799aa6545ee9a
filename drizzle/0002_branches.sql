CREATE TABLE "message_feedback" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"conversation_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"rating" text NOT NULL,
	"comment" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "message_feedback_rating_check" CHECK ("message_feedback"."rating" in ('up', 'down'))
);
--> statement-breakpoint
ALTER TABLE "conversation_messages" ADD COLUMN "parent_id" uuid;--> statement-breakpoint
ALTER TABLE "conversation_states" ADD COLUMN "head_id" uuid;--> statement-breakpoint
ALTER TABLE "message_feedback" ADD CONSTRAINT "message_feedback_message_id_conversation_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."conversation_messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "message_feedback" ADD CONSTRAINT "message_feedback_conversation_id_conversation_states_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversation_states"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "message_feedback_conversation_idx" ON "message_feedback" USING btree ("conversation_id");--> statement-breakpoint
CREATE INDEX "message_feedback_created_idx" ON "message_feedback" USING btree ("created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "conversation_messages_parent_idx" ON "conversation_messages" USING btree ("conversation_id","parent_id");--> statement-breakpoint
-- Each existing conversation is one branch: a message follows the one before it by seq (a reply, its user message).
UPDATE "conversation_messages" m SET "parent_id" = p."parent_id"
FROM (
  SELECT "id", CASE WHEN "role" = 'assistant' AND "reply_to" IS NOT NULL THEN "reply_to"
    ELSE lag("id") OVER (PARTITION BY "conversation_id" ORDER BY "seq") END AS "parent_id"
  FROM "conversation_messages"
) p
WHERE m."id" = p."id" AND m."parent_id" IS NULL AND p."parent_id" IS NOT NULL;--> statement-breakpoint
UPDATE "conversation_states" c SET "head_id" = (
  SELECT m."id" FROM "conversation_messages" m WHERE m."conversation_id" = c."id" ORDER BY m."seq" DESC LIMIT 1
)
WHERE c."head_id" IS NULL;
