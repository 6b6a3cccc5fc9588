// Embedding lookup (forward) and scatter-add of gradients (backward).
#include <cstring>
#include <string>

#include "common.h"

namespace md2pr {

namespace {

bool ReadEmbedding(Args& args, const char* tableName, float** table, size_t* tl, int32_t** ids, float** rows, size_t* rl,
                   const char* rowsName, int64_t* n, int64_t* dim, int tableIdx, int rowsIdx) {
  *table = args.f32(tableIdx, tableName, tl);
  *ids = nullptr;
  size_t il;
  *ids = args.i32(1, "ids", &il);
  *rows = args.f32(rowsIdx, rowsName, rl);
  *n = args.dim(3, "n");
  *dim = args.dim(4, "dim");
  args.need("ids", il, *n);
  args.need(rowsName, *rl, *n * *dim);
  if (args.ok() && *dim == 0 && *n > 0) args.rangeError("dim must be > 0");
  if (!args.ok()) return false;
  int64_t vocab = static_cast<int64_t>(*tl) / *dim;
  for (int64_t i = 0; i < *n; i++) {
    int32_t id = (*ids)[i];
    if (id < 0 || id >= vocab) {
      args.rangeError("id " + std::to_string(id) + " at " + std::to_string(i) + " out of range [0, " +
                      std::to_string(vocab) + ")");
      return false;
    }
  }
  return true;
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingForward", 5);
  float *table, *out;
  int32_t* ids;
  size_t tl, ol;
  int64_t n, dim;
  if (!ReadEmbedding(args, "table", &table, &tl, &ids, &out, &ol, "out", &n, &dim, 0, 2)) return args.fail();
  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, dim * sizeof(float));
  return info.Env().Undefined();
}

MD2PR_CLONES
void AddRow(float* dst, const float* src, int64_t dim) {
  for (int64_t j = 0; j < dim; j++) dst[j] += src[j];
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackward", 5);
  float *dTable, *dOut;
  int32_t* ids;
  size_t tl, ol;
  int64_t n, dim;
  if (!ReadEmbedding(args, "dTable", &dTable, &tl, &ids, &dOut, &ol, "dOut", &n, &dim, 2, 0)) return args.fail();
  // Sequential: repeated ids accumulate in order, like the reference.
  for (int64_t i = 0; i < n; i++) AddRow(dTable + static_cast<int64_t>(ids[i]) * dim, dOut + i * dim, dim);
  return info.Env().Undefined();
}

}  // namespace

void InitEmbedding(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
}

}  // namespace md2pr
