-- ct-analyze PostgreSQL database, schema version 11 (the SQLite 011 in
-- PostgreSQL's SQL): llm_calls.opening_prompt, stored at import; calls
-- imported before version 11 get it here by version 10's rule, and
-- v_llm_conversations.first_message reads it.

ALTER TABLE llm_calls ADD COLUMN opening_prompt text;

UPDATE llm_calls SET opening_prompt = (
  WITH s AS (
      SELECT m.idx, b.text, x.j,
             -- 0: a user message (role "user", or no role and no item type);
             -- 1: a system or developer message; 2: anything else.
             CASE WHEN x.j IS NULL OR jsonb_typeof(x.j) <> 'object' THEN 0
                  WHEN NOT x.j ? 'role' THEN CASE WHEN x.j ? 'type' THEN 2 ELSE 0 END
                  WHEN x.j -> 'role' = '"user"'::jsonb THEN 0
                  WHEN x.j -> 'role' IN ('"system"'::jsonb, '"developer"'::jsonb) THEN 1
                  ELSE 2 END AS speaker
      FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id
      CROSS JOIN LATERAL (SELECT ct_json(b.text) AS j) x
      WHERE m.llm_call_id = llm_calls.id)
    SELECT substr(CASE
      WHEN s.j IS NULL THEN s.text
      WHEN jsonb_typeof(s.j) = 'string' THEN s.j #>> '{}'
      WHEN jsonb_typeof(s.j -> 'content') = 'string' THEN s.j ->> 'content'
      WHEN jsonb_typeof(s.j -> 'content') = 'array' THEN
        (SELECT c.value ->> 'text'
         FROM jsonb_array_elements(s.j -> 'content') WITH ORDINALITY c(value, n)
         WHERE c.value ->> 'type' IN ('text', 'input_text')
         ORDER BY c.n DESC LIMIT 1)
      WHEN jsonb_typeof(s.j -> 'parts') = 'array' THEN
        (SELECT c.value ->> 'text'
         FROM jsonb_array_elements(s.j -> 'parts') WITH ORDINALITY c(value, n)
         WHERE jsonb_typeof(c.value -> 'text') = 'string'
         ORDER BY c.n DESC LIMIT 1)
      ELSE s.text END, 1, 1000)
    FROM s
    WHERE s.speaker = 0
      -- No other message between the first user message and this one.
      AND NOT EXISTS (SELECT 1 FROM s o
                      WHERE o.speaker = 2 AND o.idx < s.idx
                        AND o.idx > (SELECT min(u.idx) FROM s u WHERE u.speaker = 0))
    ORDER BY s.idx DESC LIMIT 1);

DROP VIEW v_llm_conversations;
CREATE VIEW v_llm_conversations AS
SELECT g.capture_id, upper(encode(g.conversation_key, 'hex')) AS conversation,
       (SELECT substr(l.opening_prompt, 1, 120) FROM llm_calls l WHERE l.id = g.first_call)
         AS first_message,
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
