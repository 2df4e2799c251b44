{
  # dmapifs_sys: synchronous Linux syscalls that Node's fs module lacks (plain N-API C, NAPI_VERSION 8,
  # so the same source builds for Node 18 and later). Built by `node scripts/build-native.js sys`.
  "targets": [
    {
      "target_name": "dmapifs_sys",
      "sources": ["sys.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags!": ["-O3"],
      "configurations": {
        "Release": {
          "cflags!": ["-O3"],
          "cflags": ["-O2"]
        }
      }
    }
  ]
}
