{
  "targets": [
    {
      "target_name": "tsresty_shdict",
      "sources": [
        "native/src/addon.c",
        "native/src/alloc.c",
        "native/src/dict.c",
        "native/src/recover.c",
        "native/src/zone.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["-lpthread"]
    }
  ]
}
