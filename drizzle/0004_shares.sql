CREATE TABLE "conversation_shares" (
	"id" text PRIMARY KEY NOT NULL,
	"conversation_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "conversation_shares_conversation_key" UNIQUE("conversation_id")
);
--> statement-breakpoint
ALTER TABLE "conversation_shares" ADD CONSTRAINT "conversation_shares_conversation_id_conversation_states_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."conversation_states"("id") ON DELETE cascade ON UPDATE no action;