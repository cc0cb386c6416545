// libFuzzer target: the HAR and OTLP exports of what the importer stored from a
// fuzz input (fuzz_import_common.hpp); they must always be valid JSON.
#include <nlohmann/json.hpp>

#include "export/har.hpp"
#include "export/otlp.hpp"
#include "fuzz_import_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static ct::fuzz::ImportFixture fixture;
    auto result = fixture.import(data, size);
    ct::analyze::exports::ExportScope scope{{result.capture_id}, {}};
    auto har = ct::analyze::exports::build_har(fixture.db(), scope);
    auto otlp = ct::analyze::exports::build_otlp(fixture.db(), scope);
    if (!har || !otlp || !nlohmann::json::accept(har->json) || !nlohmann::json::accept(otlp->json))
        __builtin_trap();
    return 0;
}
