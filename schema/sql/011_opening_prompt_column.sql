-- ct-analyze database, schema version 11: llm_calls.opening_prompt holds the
-- text of the last user message of the call's opening user turn, the prompt
-- (its first 1,000 characters; see data-dictionary.md). ct-analyze stores it at import, computed from the
-- request by the same rule version 10's view applied to the stored messages;
-- v_llm_conversations.first_message is now the first 120 characters of the
-- conversation's first call's opening_prompt. Calls imported before version 11
-- get the column here, by version 10's rule.
-- PostgreSQL has its own version of this file (postgresql/011_opening_prompt_column.sql);
-- keep the two in step.

ALTER TABLE llm_calls ADD COLUMN opening_prompt TEXT;

UPDATE llm_calls SET opening_prompt = (
  WITH s AS (
      SELECT m.idx, b.text,
             -- 0: a user message: role "user" (every API), or no role and no
             -- item type (a plain string input, a Gemini content without a
             -- role). 1: a system or developer message. 2: anything else
             -- (assistant, model, tool, a role that is not a string, a
             -- Responses item such as function_call_output).
             CASE WHEN NOT json_valid(b.text) THEN 0
                  WHEN json_type(b.text) <> 'object' THEN 0
                  WHEN json_type(b.text, '$.role') IS NULL
                    THEN CASE WHEN json_type(b.text, '$.type') IS NULL THEN 0 ELSE 2 END
                  WHEN json_type(b.text, '$.role') <> 'text' THEN 2
                  WHEN json_extract(b.text, '$.role') = 'user' THEN 0
                  WHEN json_extract(b.text, '$.role') IN ('system', 'developer') THEN 1
                  ELSE 2 END AS speaker
      FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id
      WHERE m.llm_call_id = llm_calls.id)
    SELECT substr(CASE
      WHEN NOT json_valid(s.text) THEN s.text
      WHEN json_type(s.text) = 'text' THEN json_extract(s.text, '$')
      WHEN json_type(s.text, '$.content') = 'text' THEN json_extract(s.text, '$.content')
      WHEN json_type(s.text, '$.content') = 'array' THEN
        (SELECT json_extract(c.value, '$.text') FROM json_each(s.text, '$.content') c
         WHERE json_extract(c.value, '$.type') IN ('text', 'input_text')
         ORDER BY c.key DESC LIMIT 1)
      WHEN json_type(s.text, '$.parts') = 'array' THEN
        (SELECT json_extract(c.value, '$.text') FROM json_each(s.text, '$.parts') c
         WHERE json_type(c.value, '$.text') = 'text'
         ORDER BY c.key DESC LIMIT 1)
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
SELECT g.capture_id, hex(g.conversation_key) AS conversation,
       (SELECT substr(l.opening_prompt, 1, 120) FROM llm_calls l WHERE l.id = g.first_call)
         AS first_message,
       g.calls, g.start_utc, g.duration_s, g.max_messages, g.input_tokens, g.output_tokens,
       g.cache_creation_input_tokens, g.cache_read_input_tokens, g.tool_calls, g.models
FROM (SELECT l.capture_id, l.conversation_key, min(l.id) AS first_call, count(*) AS calls,
             strftime('%Y-%m-%d %H:%M:%f', min(l.start_ns) / 1e9, 'unixepoch') AS start_utc,
             round((max(l.end_ns) - min(l.start_ns)) / 1e9, 3) AS duration_s,
             max(l.message_count) AS max_messages,
             sum(l.input_tokens) AS input_tokens,
             sum(l.output_tokens) AS output_tokens,
             sum(l.cache_creation_input_tokens) AS cache_creation_input_tokens,
             sum(l.cache_read_input_tokens) AS cache_read_input_tokens,
             sum((SELECT count(*) FROM llm_tool_calls t WHERE t.llm_call_id = l.id)) AS tool_calls,
             group_concat(DISTINCT coalesce(nullif(l.response_model, ''), l.model)) AS models
      FROM llm_calls l
      WHERE l.conversation_key IS NOT NULL
      GROUP BY l.capture_id, l.conversation_key) g;
