// libFuzzer target: the importer on an in-memory database (fuzz_import_common.hpp),
// records as the reader delivers them in, rows out. fuzz_export runs the HAR and
// OTLP exports on the same imports; they are a separate target because they cost
// twice the import, and the importer is the one that must see the most inputs.
#include "fuzz_import_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ct::fuzz::ImportFixture fixture;
    (void)fixture.import(data, size);
    return 0;
}
