// The cache loops of `p21 bench`'s cache_direct, cache_view and
// cache_contended rows, through Caffeine (the anchor of issue 33) and a
// synchronized LRU, so that anyone can hold p21::cache against them on the
// same machine:
//
//   direct:    one thread, gets that hit 256 hot keys of a 512-entry cache
//              (100-byte values); nanoseconds per get. Java hands out a
//              reference to the stored value: the twin of p21's zero-copy
//              `visit` (cache_view), and the anchor of its copying `get`
//              (cache_direct) as well.
//   contended: 1, 2, 4 and 8 threads, Zipf(0.99) over 100 000 keys, 90 %
//              get / 10 % put (a miss is followed by a put, as a
//              read-through cache does), capacity 25 000; operations per
//              second (cache_contended_1, _2, cache_contended, _8).
//
// Run by scripts/caffeine_bench.sh (needs Debian's libcaffeine-java and a JDK).

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public final class CacheBench {
  interface SimpleCache {
    String get(String key);
    void put(String key, String value);
  }

  /** A textbook LRU under one lock: the Java twin of the bench's mutex LRU. */
  static SimpleCache synchronizedLru(int capacity) {
    Map<String, String> map = Collections.synchronizedMap(
        new LinkedHashMap<String, String>(capacity * 2, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, String> e) {
            return size() > capacity;
          }
        });
    return new SimpleCache() {
      public String get(String key) { return map.get(key); }
      public void put(String key, String value) { map.put(key, value); }
    };
  }

  static SimpleCache caffeine(int capacity) {
    Cache<String, String> c = Caffeine.newBuilder().maximumSize(capacity).build();
    return new SimpleCache() {
      public String get(String key) { return c.getIfPresent(key); }
      public void put(String key, String value) { c.put(key, value); }
    };
  }

  static final String VALUE_100 = "v".repeat(100);
  static volatile Object sink;

  /** Median nanoseconds per hit over `samples` batches of `batch` gets. */
  static double direct(SimpleCache c, int samples, int batch) {
    String[] keys = new String[256];
    for (int i = 0; i < keys.length; ++i) {
      keys[i] = "key-" + i;
      c.put(keys[i], VALUE_100);
    }
    for (int i = 0; i < 2_000_000; ++i) // JIT warm-up
      sink = c.get(keys[i & 255]);
    double[] ns = new double[samples];
    for (int s = 0; s < samples; ++s) {
      long t0 = System.nanoTime();
      for (int i = 0; i < batch; ++i)
        sink = c.get(keys[i & 255]);
      ns[s] = (System.nanoTime() - t0) / (double) batch;
    }
    Arrays.sort(ns);
    return ns[samples / 2];
  }

  /** Zipf(s) over [0, n): inverse of the CDF by binary search. */
  static int[] zipf(int count, int n, double s, long seed) {
    double[] cdf = new double[n];
    double sum = 0;
    for (int i = 0; i < n; ++i) {
      sum += 1.0 / Math.pow(i + 1, s);
      cdf[i] = sum;
    }
    Random rng = new Random(seed);
    int[] out = new int[count];
    for (int k = 0; k < count; ++k) {
      double u = rng.nextDouble() * sum;
      int lo = 0, hi = n - 1;
      while (lo < hi) {
        int mid = (lo + hi) >>> 1;
        if (cdf[mid] < u) lo = mid + 1; else hi = mid;
      }
      out[k] = lo;
    }
    return out;
  }

  /** Median operations per second over `samples` runs of `threads` threads. */
  static double contended(java.util.function.Supplier<SimpleCache> make, int samples, int threads)
      throws Exception {
    final int perThread = 100_000;
    String[][] keys = new String[threads][perThread];
    boolean[][] isPut = new boolean[threads][perThread];
    for (int t = 0; t < threads; ++t) {
      int[] z = zipf(perThread, 100_000, 0.99, t + 1);
      Random rng = new Random(t + 7);
      for (int i = 0; i < perThread; ++i) {
        keys[t][i] = "key-" + z[i];
        isPut[t][i] = rng.nextInt(10) == 0;
      }
    }
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    double[] rates = new double[samples + 3];
    for (int s = 0; s < rates.length; ++s) { // the first three warm the JIT up
      SimpleCache c = make.get();
      List<Callable<Void>> work = new ArrayList<>();
      for (int t = 0; t < threads; ++t) {
        final int tt = t;
        work.add(() -> {
          for (int i = 0; i < perThread; ++i) {
            String k = keys[tt][i];
            if (isPut[tt][i] || c.get(k) == null)
              c.put(k, VALUE_100);
          }
          return null;
        });
      }
      long t0 = System.nanoTime();
      for (Future<Void> f : pool.invokeAll(work))
        f.get();
      rates[s] = threads * (double) perThread / ((System.nanoTime() - t0) / 1e9);
    }
    pool.shutdown();
    double[] measured = Arrays.copyOfRange(rates, 3, rates.length);
    Arrays.sort(measured);
    return measured[measured.length / 2];
  }

  public static void main(String[] args) throws Exception {
    int samples = args.length > 0 ? Integer.parseInt(args[0]) : 20;
    double lockNs = direct(synchronizedLru(512), samples, 200_000);
    double caffeineNs = direct(caffeine(512), samples, 200_000);
    System.out.printf("java direct     synchronized LRU %6.1f ns/get   Caffeine %6.1f ns/get   (%.2fx the lock)%n",
        lockNs, caffeineNs, lockNs / caffeineNs);
    StringBuilder json = new StringBuilder();
    json.append(String.format("{\"direct_ns\": {\"synchronized_lru\": %.2f, \"caffeine\": %.2f}, "
        + "\"contended_ops_per_s\": {", lockNs, caffeineNs));
    int[] counts = {1, 2, 4, 8};
    for (int t : counts) {
      double lockOps = contended(() -> synchronizedLru(25_000), samples, t);
      double caffeineOps = contended(() -> caffeine(25_000), samples, t);
      System.out.printf("java contended  %d thread%s  synchronized LRU %6.2f M ops/s  Caffeine %6.2f M ops/s  (%.2fx the lock)%n",
          t, t == 1 ? " " : "s", lockOps / 1e6, caffeineOps / 1e6, caffeineOps / lockOps);
      json.append(String.format("%s\"%d\": {\"synchronized_lru\": %.0f, \"caffeine\": %.0f}",
          t == 1 ? "" : ", ", t, lockOps, caffeineOps));
    }
    System.out.println(json.append("}}"));
  }
}
