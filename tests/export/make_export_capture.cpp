// Writes the synthetic capture of export_session.hpp.
//
//   export-test-capture OUT.ctz
#include <fmt/format.h>

#include "export_session.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        fmt::print(stderr, "usage: {} OUT.ctz\n", argv[0]);
        return 2;
    }
    ct::testing::write_export_session(argv[1]);
    return 0;
}
