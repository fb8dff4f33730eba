{
  "targets": [
    {
      "target_name": "tsresty_shdict",
      "sources": [
        "native/src/addon.c",
        "native/src/alloc.c",
        "native/src/check.c",
        "native/src/dict.c",
        "native/src/lanes.c",
        "native/src/list.c",
        "native/src/lock.c",
        "native/src/ops.c",
        "native/src/recover.c",
        "native/src/shard.c",
        "native/src/spawn.c",
        "native/src/system.c",
        "native/src/values.c",
        "native/src/zone.c",
        "native/src/zonewide.c"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-flto", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-flto"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["-lpthread"]
    }
  ]
}
