-- ct-analyze PostgreSQL database, schema version 8 (the SQLite 008 in
-- PostgreSQL's SQL): v_llm_conversations.first_message is the conversation's
-- first user message, whatever the API, no longer the system prompt that Chat
-- Completions (`system`) and the Responses API (`developer`) send first.

DROP VIEW v_llm_conversations;
CREATE VIEW v_llm_conversations AS
SELECT g.capture_id, upper(encode(g.conversation_key, 'hex')) AS conversation,
       -- The first user message's text: its content string, or its last text block
       -- (agents put reminders first and the user's words last); Gemini: the
       -- last part with text.
       (SELECT substr(CASE
                        WHEN x.j IS NULL THEN b.text
                        WHEN jsonb_typeof(x.j) = 'string' THEN x.j #>> '{}'
                        WHEN jsonb_typeof(x.j -> 'content') = 'string' THEN x.j ->> 'content'
                        WHEN jsonb_typeof(x.j -> 'content') = 'array' THEN
                          (SELECT c.value ->> 'text'
                           FROM jsonb_array_elements(x.j -> 'content') WITH ORDINALITY c(value, n)
                           WHERE c.value ->> 'type' IN ('text', 'input_text')
                           ORDER BY c.n DESC LIMIT 1)
                        WHEN jsonb_typeof(x.j -> 'parts') = 'array' THEN
                          (SELECT c.value ->> 'text'
                           FROM jsonb_array_elements(x.j -> 'parts') WITH ORDINALITY c(value, n)
                           WHERE jsonb_typeof(c.value -> 'text') = 'string'
                           ORDER BY c.n DESC LIMIT 1)
                        ELSE b.text END, 1, 120)
        FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id
        CROSS JOIN LATERAL (SELECT ct_json(b.text) AS j) x
        WHERE m.llm_call_id = g.first_call
          -- A user message (see the SQLite view): role "user", or no role and no
          -- item type.
          AND CASE WHEN x.j IS NULL OR jsonb_typeof(x.j) <> 'object' THEN true
                   WHEN x.j ? 'role' THEN x.j -> 'role' = '"user"'::jsonb
                   ELSE NOT x.j ? 'type' END
        ORDER BY m.idx LIMIT 1) AS first_message,
       g.calls, g.start_utc, g.duration_s, g.max_messages, g.input_tokens, g.output_tokens,
       g.cache_creation_input_tokens, g.cache_read_input_tokens, g.tool_calls,
       -- Models in the order the conversation first used them.
       (SELECT string_agg(u.model, ',' ORDER BY u.first_id)
        FROM (SELECT coalesce(nullif(k.response_model, ''), k.model) AS model, min(k.id) AS first_id
              FROM llm_calls k
              WHERE k.capture_id = g.capture_id AND k.conversation_key = g.conversation_key
                AND coalesce(nullif(k.response_model, ''), k.model) IS NOT NULL
              GROUP BY 1) u) AS models
FROM (SELECT l.capture_id, l.conversation_key, min(l.id) AS first_call, count(*) AS calls,
             ct_utc(min(l.start_ns)) AS start_utc,
             round(((max(l.end_ns) - min(l.start_ns)) / 1e9)::numeric, 3)::float8 AS duration_s,
             max(l.message_count) AS max_messages,
             sum(l.input_tokens)::bigint AS input_tokens,
             sum(l.output_tokens)::bigint AS output_tokens,
             sum(l.cache_creation_input_tokens)::bigint AS cache_creation_input_tokens,
             sum(l.cache_read_input_tokens)::bigint AS cache_read_input_tokens,
             sum((SELECT count(*) FROM llm_tool_calls t WHERE t.llm_call_id = l.id))::bigint AS tool_calls
      FROM llm_calls l
      WHERE l.conversation_key IS NOT NULL
      GROUP BY l.capture_id, l.conversation_key) g;
