#include <cstdio>
int main() { std::puts("rampart 0.1.0"); return 0; }
