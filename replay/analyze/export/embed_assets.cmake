# Writes OUTPUT: a C++ file defining ct::analyze::html_report_css() and
# html_report_js() from CSS and JS (the report's stylesheet and script), so the
# binary writes self-contained reports without data files.
file(READ ${CSS} css)
file(READ ${JS} js)
foreach(text css js)
  string(FIND "${${text}}" ")ct_asset\"" found)
  if(NOT found EQUAL -1)
    message(FATAL_ERROR "the report's ${text} must not contain )ct_asset\"")
  endif()
endforeach()
file(WRITE ${OUTPUT}.tmp "// Generated from replay/analyze/export by embed_assets.cmake; do not edit.
#include \"export/html_report.hpp\"

namespace ct::analyze {

const char* html_report_css() {
    return R\"ct_asset(${css})ct_asset\";
}

const char* html_report_js() {
    return R\"ct_asset(${js})ct_asset\";
}

}  // namespace ct::analyze
")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
