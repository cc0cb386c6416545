-- ct-analyze database, schema version 8: v_llm_conversations.first_message is
-- the conversation's first user message, whatever the API. It was the first
-- message sent, which is the system prompt where an API sends it among the
-- messages: the Chat Completions `system` message (qwen-code) and the Responses
-- API's `developer` items (Codex). A plain string input (Responses API) is now
-- shown without its JSON quotes.

DROP VIEW v_llm_conversations;
CREATE VIEW v_llm_conversations AS
SELECT g.capture_id, hex(g.conversation_key) AS conversation,
       -- The first user message's text: its content string, or its last text block
       -- (agents put reminders first and the user's words last); Gemini: the last
       -- part with text.
       (SELECT substr(CASE
                        WHEN NOT json_valid(b.text) THEN b.text
                        WHEN json_type(b.text) = 'text' THEN json_extract(b.text, '$')
                        WHEN json_type(b.text, '$.content') = 'text' THEN json_extract(b.text, '$.content')
                        WHEN json_type(b.text, '$.content') = 'array' THEN
                          (SELECT json_extract(c.value, '$.text') FROM json_each(b.text, '$.content') c
                           WHERE json_extract(c.value, '$.type') IN ('text', 'input_text')
                           ORDER BY c.key DESC LIMIT 1)
                        WHEN json_type(b.text, '$.parts') = 'array' THEN
                          (SELECT json_extract(c.value, '$.text') FROM json_each(b.text, '$.parts') c
                           WHERE json_type(c.value, '$.text') = 'text'
                           ORDER BY c.key DESC LIMIT 1)
                        ELSE b.text END, 1, 120)
        FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id
        WHERE m.llm_call_id = g.first_call
          -- A user message: role "user" (every API), or no role and no item type
          -- (a plain string input, a Gemini content without a role). Not system,
          -- developer, assistant, model or tool messages, nor Responses items
          -- such as function_call_output.
          AND CASE WHEN NOT json_valid(b.text) THEN 1
                   WHEN json_type(b.text) <> 'object' THEN 1
                   WHEN json_type(b.text, '$.role') IS NOT NULL
                     THEN json_type(b.text, '$.role') = 'text' AND json_extract(b.text, '$.role') = 'user'
                   ELSE json_type(b.text, '$.type') IS NULL END
        ORDER BY m.idx LIMIT 1) AS first_message,
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
