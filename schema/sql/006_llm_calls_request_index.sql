-- ct-analyze database, schema version 6: an index on llm_calls(request_id).
-- http_request_bodies (and every query that joins an HTTP request to its LLM
-- call) looked each request's call up by a scan of all llm_calls: quadratic in
-- the number of calls (81 s for the HAR of an 809-call session).

CREATE INDEX llm_calls_request ON llm_calls(request_id);
