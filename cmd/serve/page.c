/* page.c - the web page served at / . */
#include "serve.h"

const char kts_page_html[] = "<!doctype html><title>kt-serve</title>";
