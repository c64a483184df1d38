// Streaming authenticated encryption of whole files (libsodium crypto_secretstream_
// xchacha20poly1305), for files too large to hold in memory — the encrypted backups of
// `chukan backup` (docs/operations.md, "Backup and restore"). Memory use is one chunk (64 KiB),
// whatever the file's size.
//
// Format (docs/crypto.md, "Encrypted file, version 1"):
//
//   offset  size  field
//   0       8     magic "CHUKANSF"
//   8       1     version = 0x01
//   9       24    secretstream header (random nonce material)
//   33      …     chunks: each the encryption of 64 KiB of the file (the last: the rest, possibly
//                 empty, tagged FINAL) plus 17 bytes (tag byte and Poly1305 MAC)
//   every chunk's associated data = "chukan/file-stream/v1" ‖ 0x00 ‖ `ad`
//
// The FINAL tag makes truncation at a chunk boundary detectable, each chunk's MAC any change,
// reordering or removal of chunks; `ad` binds the file to what the caller says it is (e.g. the
// backup and the file's name), so a valid file renamed or moved into another backup does not
// decrypt.
//
// Thread-safety: the functions are thread-safe (each works on its own files).
#ifndef CHUKAN_CRYPTO_FILE_STREAM_H_
#define CHUKAN_CRYPTO_FILE_STREAM_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr size_t kFileStreamKeyBytes = 32;
inline constexpr size_t kFileStreamChunkBytes = 64 * 1024;

struct FileStreamInfo {
  int64_t plain_bytes = 0;   // the file's plaintext size
  int64_t cipher_bytes = 0;  // the encrypted file's size
  Bytes cipher_blake2b;      // BLAKE2b-256 of the encrypted file, as written or read
};

// Encrypts the file `in_path` into a new file `out_path` (created with O_EXCL, mode 0600,
// synced before returning) under `key`. On any error `out_path` is removed.
// Errors: kInvalidArgument (key not 32 bytes); kAlreadyExists (out_path exists); kInternal
// (I/O), each naming the file and the OS's reason.
Result<FileStreamInfo> EncryptFileStream(const std::string& in_path, const std::string& out_path,
                                         const SecretBytes& key, std::string_view ad);

// Decrypts `in_path` into a new file `out_path` (O_EXCL, 0600, synced). Every chunk is
// authenticated before it is written; on any error `out_path` is removed, so a caller never
// finds a partial or unauthenticated plaintext there.
// Errors: kDataLoss naming `in_path` for a wrong magic, version, key or `ad`, a changed,
// reordered or missing chunk, bytes after the final chunk, or a file cut short;
// kAlreadyExists, kInvalidArgument, kInternal as for EncryptFileStream.
Result<FileStreamInfo> DecryptFileStream(const std::string& in_path, const std::string& out_path,
                                         const SecretBytes& key, std::string_view ad);

// BLAKE2b-256 and size of a file, read in chunks. Errors: kNotFound, kInternal naming the file.
Result<FileStreamInfo> HashFile(const std::string& path);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_FILE_STREAM_H_
