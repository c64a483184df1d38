// Replays a fuzz target's corpus in every build, so no target rots and every seed's properties
// are checked by `make test` (under the sanitizers too): each file given (or each file of each
// directory given) goes through LLVMFuzzerTestOneInput as it is, then as deterministic
// mutations of it — every prefix at 1/16 steps, each single byte flipped to 0x00, 0xFF, '"', '\\'
// and '{' at up to 64 evenly spread positions, and the file doubled. A target reports a broken
// property by aborting, so a failure is the process dying with the input's name printed first.
//
// This is not fuzzing (that is the libFuzzer build, scripts/fuzz); it is its regression guard.
//
// Usage: <target>_replay FILE_OR_DIR...   Exit 0 when every input ran; 2 when none was found.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Returns how many inputs were run.
size_t RunWithMutations(const std::string& seed) {
  size_t runs = 0;
  Run(seed);
  ++runs;
  const size_t step = std::max<size_t>(1, seed.size() / 16);
  for (size_t n = 0; n < seed.size(); n += step) {
    Run(seed.substr(0, n));
    ++runs;
  }
  const size_t positions = std::min<size_t>(64, seed.size());
  for (size_t k = 0; k < positions; ++k) {
    const size_t at = seed.size() * k / positions;
    for (char c : {'\0', '\xff', '"', '\\', '{'}) {
      std::string mutated = seed;
      mutated[at] = c;
      Run(mutated);
      ++runs;
    }
  }
  Run(seed + seed);
  return runs + 1;
}

bool ReadFile(const std::filesystem::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(arg);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no corpus files given\n");
    return 2;
  }
  size_t runs = 0;
  for (const auto& path : files) {
    std::string seed;
    if (!ReadFile(path, seed)) {
      std::fprintf(stderr, "%s: cannot be read\n", path.c_str());
      return 2;
    }
    std::fprintf(stderr, "replaying %s\n", path.c_str());
    runs += RunWithMutations(seed);
  }
  std::printf("%zu files, %zu inputs run\n", files.size(), runs);
  return 0;
}
