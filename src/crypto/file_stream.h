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
#include <memory>
#include <span>
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

// The same format written from memory, for callers that produce the plaintext themselves and
// must never put it in a file (the tenant transfer, server/tenant_transfer.h): bytes given to
// Write() are encrypted chunk by chunk as they fill. The output file may already hold a prefix
// of the caller's (`append`): the stream then starts at its end.
class FileStreamWriter {
 public:
  // Opens `path`: a new file (O_EXCL, 0600), or with `append` an existing one the caller wrote
  // (the stream goes after its bytes). Errors: kInvalidArgument (key size); kAlreadyExists /
  // kNotFound; kInternal (I/O) naming the file.
  static Result<std::unique_ptr<FileStreamWriter>> Open(const std::string& path,
                                                        const SecretBytes& key, std::string_view ad,
                                                        bool append = false);
  // Removes the file unless Finish() succeeded.
  ~FileStreamWriter();
  FileStreamWriter(const FileStreamWriter&) = delete;
  FileStreamWriter& operator=(const FileStreamWriter&) = delete;

  // Encrypts `data` (buffered up to one chunk). Errors: kInternal naming the file.
  Status Write(std::span<const uint8_t> data);
  // Writes the final chunk, syncs and closes. The info counts the stream's bytes only (not an
  // appended file's prefix). Errors: kInternal naming the file.
  Result<FileStreamInfo> Finish();

 private:
  struct State;
  explicit FileStreamWriter(std::unique_ptr<State> state);
  Status Push(bool final);
  std::unique_ptr<State> state_;
};

// Reads a stream written by EncryptFileStream or FileStreamWriter, starting `offset` bytes into
// the file, and hands out only authenticated plaintext, one chunk at a time.
class FileStreamReader {
 public:
  // Errors: kNotFound, kInternal naming the file; kDataLoss for a wrong magic, version or header;
  // kInvalidArgument (key size).
  static Result<std::unique_ptr<FileStreamReader>> Open(const std::string& path, int64_t offset,
                                                        const SecretBytes& key,
                                                        std::string_view ad);
  ~FileStreamReader();
  FileStreamReader(const FileStreamReader&) = delete;
  FileStreamReader& operator=(const FileStreamReader&) = delete;

  // Fills `out` with the next plaintext bytes; returns how many (fewer than out.size() only at
  // the authenticated end of the stream, and 0 after it). Errors: kDataLoss naming the file as
  // DecryptFileStream's; kInternal (I/O).
  Result<size_t> Read(std::span<uint8_t> out);
  // Counters so far; complete (with the BLAKE2b of the stream's bytes) once Read returned 0.
  FileStreamInfo info() const;

 private:
  struct State;
  explicit FileStreamReader(std::unique_ptr<State> state);
  Status NextChunk();
  std::unique_ptr<State> state_;
};

// A temporary file that never holds plaintext: what Write() is given is sealed chunk by chunk
// (the format above, without magic or version, the stream header kept in memory) under a key
// drawn for this stream alone, which lives only in this object, so the bytes are unreadable once
// it is gone — even after a crash. The file has no name (O_TMPFILE in `dir`, else a name unlinked
// at once), mode 0600, and is never synced: it is scratch space, read back by the same process
// (an import's upload, received whole before the import takes the tenant's write lock,
// replica/record_source.h). Write everything, Rewind() once, then Read.
//
// Thread-compatible: one thread at a time.
class TempStream {
 public:
  // Errors: kUnavailable naming `dir` and the system's reason.
  static Result<std::unique_ptr<TempStream>> Create(const std::string& dir);
  ~TempStream();
  TempStream(const TempStream&) = delete;
  TempStream& operator=(const TempStream&) = delete;

  // Encrypts `data` (buffered up to one chunk). Errors: kUnavailable (disk full, I/O) naming the
  // directory; kFailedPrecondition after Rewind().
  Status Write(std::span<const uint8_t> data);
  // Ends writing (the final chunk) and starts reading from the first byte. Call once.
  // Errors: as Write.
  Status Rewind();
  // Fills `out` with the next plaintext bytes; returns how many (fewer than out.size() only at
  // the end, and 0 after it). Errors: kDataLoss (the file was changed under us), kUnavailable
  // (I/O); kFailedPrecondition before Rewind().
  Result<size_t> Read(std::span<uint8_t> out);

  int64_t plain_bytes() const;  // bytes written
  // The descriptor of the file (for tests that look at what reached the disk).
  int descriptor_for_test() const;

 private:
  struct State;
  explicit TempStream(std::unique_ptr<State> state);
  Status Push(bool final);
  Status NextChunk();
  std::unique_ptr<State> state_;
};

// BLAKE2b-256 and size of a file, read in chunks. Errors: kNotFound, kInternal naming the file.
Result<FileStreamInfo> HashFile(const std::string& path);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_FILE_STREAM_H_
