/* Source of tests/fuzz/corpus/fuzz_locator/static_openssl_rustls.elf (2 KB), a seed
 * that reaches every stage of the stripped-OpenSSL analysis and the rustls check:
 *   gcc -O2 -fPIE -pie -nostdlib -static-pie -Wl,--build-id=none -Wl,-z,norelro \
 *       -Wl,-z,noseparate-code -Wl,-z,max-page-size=0x1000 -s -o SEED fuzz_locator_seed.c */
extern void ERR_new(void);
extern void ERR_set_debug(const char *, int, const char *);
extern void ERR_set_error(int, int, const char *);
__attribute__((noinline)) int ssl_write_internal(void *s, const void *b, unsigned long n, unsigned long f, unsigned long *w)
{ if (!s) { ERR_new(); ERR_set_debug("ssl/ssl_lib.c", 2544, "ssl_write_internal"); ERR_set_error(20, 412, 0); return -1; } *w = n + f; return 1; }
__attribute__((noinline)) int ssl_read_internal(void *s, void *b, unsigned long n, unsigned long *r)
{ if (!s) { ERR_new(); ERR_set_debug("ssl/ssl_lib.c", 2325, "ssl_read_internal"); ERR_set_error(20, 276, 0); return -1; } *r = n; return 1; }
__attribute__((noinline)) void ERR_new(void) { __asm__ volatile(""); }
__attribute__((noinline)) void ERR_set_debug(const char *a, int b, const char *c) { __asm__ volatile("" :: "r"(a), "r"(b), "r"(c)); }
__attribute__((noinline)) void ERR_set_error(int a, int b, const char *c) { __asm__ volatile("" :: "r"(a), "r"(b), "r"(c)); }
__attribute__((noinline)) int SSL_do_handshake(void *s) { if (!s) { ERR_new(); ERR_set_debug("ssl/ssl_lib.c", 4961, "SSL_do_handshake"); ERR_set_error(20, 144, 0); return -1; } return 1; }
const char rust[] = "/x/rustls-0.23.46/src/conn.rs";
void _start(void) { unsigned long w; ssl_write_internal(0, 0, 0, 0, &w); ssl_read_internal(0, 0, 0, &w); SSL_do_handshake(0); for (;;) ; }
