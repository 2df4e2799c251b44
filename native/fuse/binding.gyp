{
  "targets": [
    {
      "target_name": "fuse_native",
      "sources": ["binding.c"],
      "cflags": ["-O2", "-Wall", "-Wno-unused-parameter", "<!@(pkg-config fuse3 --cflags)"],
      "defines": ["_FILE_OFFSET_BITS=64", "NAPI_VERSION=8"],
      "libraries": ["<!@(pkg-config fuse3 --libs)"]
    }
  ]
}
