# Writes OUTPUT: a C++ file holding every SQL_DIR/NNN_*.sql file, in name order,
# as ct::analyze::FUNCTION() (default schema_migrations).
if(NOT FUNCTION)
  set(FUNCTION schema_migrations)
endif()
file(GLOB files ${SQL_DIR}/*.sql)
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} sql)
  string(REGEX MATCH "^[0-9]+" number ${name})
  if(number STREQUAL "")
    message(FATAL_ERROR "${name}: schema files must start with their version number")
  endif()
  math(EXPR version "${number}")
  string(APPEND body "        {${version}, \"${name}\", R\"ct_sql(${sql})ct_sql\"},\n")
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from ${SQL_DIR} by embed_sql.cmake; do not edit.
#include \"sqlite/migrations.hpp\"

namespace ct::analyze {

const std::vector<Migration>& ${FUNCTION}() {
    static const std::vector<Migration> migrations = {
${body}    };
    return migrations;
}

}  // namespace ct::analyze
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
