/*
 * mem.c - the engine's memory on transparent huge pages (madvise), for the Node loader.
 *
 * A conn table of a million conns is ~130 MiB of records and index visited at random: on 4 KiB
 * pages every packet's bucket and record lines also miss the TLB, and a page walk under nested
 * paging (a VM) holds the batch stages' overlapped misses back (bench: the stages alone 104 ->
 * 91 ns a packet on 2 MiB pages). Kernel IPVS does not pay it: its conns are slab objects in the
 * kernel's direct map, which the kernel maps with huge pages. The engine's WebAssembly memory is
 * plain anonymous memory V8 reserved; this asks the kernel for the same:
 *
 *   MADV_HUGEPAGE  pages faulted from now on come as 2 MiB pages (THP "madvise" mode, the
 *                  default of most distributions; "always" needs nothing, "never" refuses)
 *   MADV_COLLAPSE  (Linux >= 6.1) the pages already there are collapsed now, synchronously
 *
 * Only whole 2 MiB ranges inside the buffer are advised. Nothing here is needed for correctness:
 * every failure is reported to the caller, which logs it and runs on 4 KiB pages.
 */
#include <node_api.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define CHECK(call) do { if ((call) != napi_ok) return NULL; } while (0)

static napi_value set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) != napi_ok || napi_set_named_property(env, obj, key, n) != napi_ok) return NULL;
  return obj;
}

static napi_value set_str(napi_env env, napi_value obj, const char *key, const char *s) {
  napi_value v;
  if (napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) != napi_ok || napi_set_named_property(env, obj, key, v) != napi_ok) return NULL;
  return obj;
}

/*
 * adviseHugePages(view: Uint8Array over the memory's buffer, collapse: boolean)
 *   -> { bytes, error?, collapseError? }: bytes advised (whole 2 MiB pages), the errno names of
 *   what the kernel refused. A view, not the buffer, so a SharedArrayBuffer (workers) works too.
 */
static napi_value js_advise_huge_pages(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], res;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_ta = false, collapse = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta) {
    napi_throw_type_error(env, NULL, "adviseHugePages: a Uint8Array over the engine's memory");
    return NULL;
  }
  if (argc > 1) napi_get_value_bool(env, argv[1], &collapse);
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &len, &data, NULL, NULL));
  if (type != napi_uint8_array || data == NULL) {
    napi_throw_type_error(env, NULL, "adviseHugePages: a Uint8Array over the engine's memory");
    return NULL;
  }
  uintptr_t start = ((uintptr_t)data + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  uintptr_t end = ((uintptr_t)data + len) & ~(HUGE_PAGE - 1);
  CHECK(napi_create_object(env, &res));
  if (end <= start) return set_num(env, res, "bytes", 0);
  if (madvise((void *)start, end - start, MADV_HUGEPAGE) != 0) {
    if (!set_num(env, res, "bytes", 0)) return NULL;
    return set_str(env, res, "error", strerrorname_np(errno) ? strerrorname_np(errno) : "EINVAL");
  }
  if (!set_num(env, res, "bytes", (double)(end - start))) return NULL;
  /* EINVAL: a kernel before 6.1; EAGAIN/ENOMEM: no free huge page now (the pages stay 4 KiB) */
  if (collapse && madvise((void *)start, end - start, MADV_COLLAPSE) != 0)
    return set_str(env, res, "collapseError", strerrorname_np(errno) ? strerrorname_np(errno) : "EINVAL");
  return res;
}

/* Called from the addon's init (tun.c). */
napi_value mem_init(napi_env env, napi_value exports) {
  napi_value f;
  CHECK(napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, js_advise_huge_pages, NULL, &f));
  CHECK(napi_set_named_property(env, exports, "adviseHugePages", f));
  return exports;
}
