// Full-text search for people: plain words in, matches with a snippet of the
// text around them out. The index is contentless (the text lives in the tables
// it points to), so FTS5's snippet() has nothing to show; this reads the text
// back from its table instead. Words are quoted, so "hello.txt" or "a-b" need no
// FTS5 syntax.
#pragma once

#include <string>
#include <string_view>

#include "util/error.hpp"

namespace ct::analyze {

// The FTS5 query matching every word of `words` (split at whitespace), each
// one quoted: a word the tokenizer splits ("hello.txt") becomes a phrase.
// Fails when `words` has no word.
Expected<std::string> fts_query_for_words(std::string_view words);

// A read-only SELECT for `ct-analyze --search`: capture_id, kind, ref_id (as
// search_documents), time_utc and snippet (about 160 characters around the first
// word, newlines shown as spaces), best matches first, at most `limit` rows.
Expected<std::string> search_sql(std::string_view words, int limit = 50);

// The same for PostgreSQL: PostgreSQL text search (search_index.tsv) instead of FTS5.
Expected<std::string> pg_search_sql(std::string_view words, int limit = 50);

}  // namespace ct::analyze
