# Warnings for the project's own C++ targets; -Werror in CI (CT_WERROR=ON).
add_library(ct_warnings INTERFACE)
target_compile_options(ct_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Wdouble-promotion -Wformat=2
  -Wimplicit-fallthrough)
if(CT_WERROR)
  target_compile_options(ct_warnings INTERFACE -Werror)
endif()
if(CT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()
