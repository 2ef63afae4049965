// hsm_sign_load: signatures per second through any PKCS#11 module, in N
// threads, each with its own session. The same program drives SoftHSM2
// directly and librampart-pkcs11.so over the network, so the two figures of
// bench/hsm_bench.sh differ only in the module loaded.
//
//   hsm_sign_load --module PATH --pin PIN [--token LABEL] --mech ecdsa|rsa
//                 [--threads N] [--seconds S] [--label KEYLABEL]
//
// The key pair (EC P-256 or RSA-2048) is looked up by label and generated
// once when missing. Every thread signs a 32-byte SHA-256 digest in a
// closed loop: CKM_ECDSA for EC (the digest is what an application such as
// OpenSSL's engine hands to the module) and CKM_RSA_PKCS over a SHA-256
// DigestInfo for RSA, the mechanisms code signers use. It prints one line:
//   <mech> threads=N seconds=S signatures=C per_second=R cpu_us_per_sig=U errors=E
// where U is this process's CPU time (user + system) over the timed window
// per signature: on a shared machine a steadier figure than R.
// Exit status: 0 when no call failed, 1 otherwise, 2 on bad usage or setup.
#define CRYPTOKI_GNU 1
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string module, pin, token, mech = "ecdsa", label;
  int threads = 2;
  double seconds = 5;
};

ck_function_list* g_p11 = nullptr;

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

void Usage() {
  std::fprintf(stderr,
               "usage: hsm_sign_load --module PATH --pin PIN [--token LABEL] --mech ecdsa|rsa\n"
               "                     [--threads N] [--seconds S] [--label KEYLABEL]\n");
  std::exit(2);
}

[[noreturn]] void Die(const char* what, ck_rv_t rv) {
  std::fprintf(stderr, "hsm_sign_load: %s failed: 0x%lx\n", what, rv);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Usage();
    std::string v = argv[++i];
    if (a == "--module") o.module = v;
    else if (a == "--pin") o.pin = v;
    else if (a == "--token") o.token = v;
    else if (a == "--mech") o.mech = v;
    else if (a == "--label") o.label = v;
    else if (a == "--threads") o.threads = std::atoi(v.c_str());
    else if (a == "--seconds") o.seconds = std::atof(v.c_str());
    else Usage();
  }
  if (o.module.empty() || o.pin.empty() || (o.mech != "ecdsa" && o.mech != "rsa") || o.threads < 1 ||
      o.threads > 256 || o.seconds <= 0 || o.seconds > 3600) {
    Usage();
  }
  if (o.label.empty()) o.label = "bench-" + o.mech;
  return o;
}

std::string Trimmed(const unsigned char* text, size_t size) {
  std::string s(reinterpret_cast<const char*>(text), size);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// The first slot with a token, or the one whose token label matches.
ck_slot_id_t FindSlot(const std::string& label) {
  unsigned long n = 0;
  ck_rv_t rv = g_p11->C_GetSlotList(1, nullptr, &n);
  if (rv != CKR_OK || n == 0) Die("C_GetSlotList", rv);
  std::vector<ck_slot_id_t> slots(n);
  rv = g_p11->C_GetSlotList(1, slots.data(), &n);
  if (rv != CKR_OK) Die("C_GetSlotList", rv);
  for (unsigned long i = 0; i < n; ++i) {
    ck_token_info info{};
    if (g_p11->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    if (label.empty() || Trimmed(info.label, sizeof(info.label)) == label) return slots[i];
  }
  std::fprintf(stderr, "hsm_sign_load: no token labelled %s\n", label.c_str());
  std::exit(2);
}

ck_object_handle_t FindPrivateKey(ck_session_handle_t s, const std::string& label) {
  ck_object_class_t cls = CKO_PRIVATE_KEY;
  ck_attribute tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
  ck_rv_t rv = g_p11->C_FindObjectsInit(s, tmpl, 2);
  if (rv != CKR_OK) Die("C_FindObjectsInit", rv);
  ck_object_handle_t key = 0;
  unsigned long found = 0;
  rv = g_p11->C_FindObjects(s, &key, 1, &found);
  g_p11->C_FindObjectsFinal(s);
  if (rv != CKR_OK) Die("C_FindObjects", rv);
  return found == 1 ? key : 0;
}

ck_object_handle_t GenerateKeyPair(ck_session_handle_t s, const Options& o) {
  static const unsigned char kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  static const unsigned char kE[] = {0x01, 0x00, 0x01};
  unsigned char yes = 1;
  unsigned long bits = 2048;
  std::string id = o.label;
  bool ec = o.mech == "ecdsa";
  ck_mechanism mech = {ec ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  std::vector<ck_attribute> pub = {{CKA_TOKEN, &yes, 1},
                                   {CKA_VERIFY, &yes, 1},
                                   {CKA_LABEL, id.data(), id.size()},
                                   {CKA_ID, id.data(), id.size()}};
  if (ec) {
    pub.push_back({CKA_EC_PARAMS, const_cast<unsigned char*>(kP256), sizeof(kP256)});
  } else {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof(bits)});
    pub.push_back({CKA_PUBLIC_EXPONENT, const_cast<unsigned char*>(kE), sizeof(kE)});
  }
  ck_attribute priv[] = {{CKA_TOKEN, &yes, 1},     {CKA_PRIVATE, &yes, 1},
                         {CKA_SENSITIVE, &yes, 1}, {CKA_SIGN, &yes, 1},
                         {CKA_LABEL, id.data(), id.size()}, {CKA_ID, id.data(), id.size()}};
  ck_object_handle_t pub_key = 0, priv_key = 0;
  ck_rv_t rv = g_p11->C_GenerateKeyPair(s, &mech, pub.data(), pub.size(), priv, 6, &pub_key, &priv_key);
  if (rv != CKR_OK) Die("C_GenerateKeyPair", rv);
  return priv_key;
}

// What each thread signs: a SHA-256 digest, as a DigestInfo for RSA.
std::string SignInput(bool ec) {
  static const char kPrefix[] = "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20";
  std::string digest(32, '\x5a');
  return ec ? digest : std::string(kPrefix, 19) + digest;
}

struct Counters {
  std::atomic<uint64_t> signatures{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<int> ready{0};  // threads past their first (untimed) signature
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
};

bool SignOnce(ck_session_handle_t s, ck_mechanism& mech, ck_object_handle_t key, std::string& input) {
  unsigned char sig[512];
  unsigned long len = sizeof(sig);
  ck_rv_t rv = g_p11->C_SignInit(s, &mech, key);
  if (rv == CKR_OK) {
    rv = g_p11->C_Sign(s, reinterpret_cast<unsigned char*>(input.data()), input.size(), sig, &len);
  }
  if (rv != CKR_OK) std::fprintf(stderr, "hsm_sign_load: sign failed: 0x%lx\n", rv);
  return rv == CKR_OK;
}

void SignLoop(ck_slot_id_t slot, ck_object_handle_t key, bool ec, Counters& c) {
  ck_session_handle_t s = 0;
  ck_rv_t rv = g_p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) {
    c.errors++;
    return;
  }
  std::string input = SignInput(ec);
  ck_mechanism mech = {ec ? CKM_ECDSA : CKM_RSA_PKCS, nullptr, 0};
  // The first signature sets up what a long-running signer has set up once
  // (the network module's connection and login for this thread): untimed.
  if (!SignOnce(s, mech, key, input)) c.errors++;
  c.ready++;
  while (!c.go.load()) std::this_thread::yield();
  while (!c.stop.load(std::memory_order_relaxed)) {
    if (SignOnce(s, mech, key, input)) {
      c.signatures.fetch_add(1, std::memory_order_relaxed);
    } else {
      c.errors++;
    }
  }
  g_p11->C_CloseSession(s);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  void* lib = dlopen(o.module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "hsm_sign_load: %s\n", dlerror());
    return 2;
  }
  auto get_list = reinterpret_cast<ck_rv_t (*)(ck_function_list**)>(dlsym(lib, "C_GetFunctionList"));
  if (get_list == nullptr || get_list(&g_p11) != CKR_OK) {
    std::fprintf(stderr, "hsm_sign_load: no C_GetFunctionList\n");
    return 2;
  }
  ck_c_initialize_args args{};
  args.flags = CKF_OS_LOCKING_OK;
  ck_rv_t rv = g_p11->C_Initialize(&args);
  if (rv != CKR_OK) Die("C_Initialize", rv);
  ck_slot_id_t slot = FindSlot(o.token);
  ck_session_handle_t admin = 0;
  rv = g_p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &admin);
  if (rv != CKR_OK) Die("C_OpenSession", rv);
  rv = g_p11->C_Login(admin, CKU_USER, reinterpret_cast<unsigned char*>(o.pin.data()), o.pin.size());
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) Die("C_Login", rv);
  ck_object_handle_t key = FindPrivateKey(admin, o.label);
  if (key == 0) key = GenerateKeyPair(admin, o);
  bool ec = o.mech == "ecdsa";

  Counters c;
  std::vector<std::thread> threads;
  for (int i = 0; i < o.threads; ++i) threads.emplace_back(SignLoop, slot, key, ec, std::ref(c));
  while (c.ready.load() < o.threads) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto start = std::chrono::steady_clock::now();
  double cpu_start = ProcessCpuSeconds();
  c.go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  c.stop = true;
  for (auto& t : threads) t.join();
  double cpu = ProcessCpuSeconds() - cpu_start;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t n = c.signatures.load();
  std::printf("%s threads=%d seconds=%.1f signatures=%llu per_second=%.0f cpu_us_per_sig=%.0f errors=%llu\n",
              ec ? "ecdsa-p256" : "rsa-2048", o.threads, elapsed, static_cast<unsigned long long>(n),
              static_cast<double>(n) / elapsed, n > 0 ? cpu * 1e6 / static_cast<double>(n) : 0.0,
              static_cast<unsigned long long>(c.errors.load()));
  g_p11->C_CloseSession(admin);
  g_p11->C_Finalize(nullptr);
  return c.errors.load() == 0 ? 0 : 1;
}
