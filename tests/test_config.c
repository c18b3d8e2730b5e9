#include <criterion/criterion.h>
/* tests arrive with src/config.c */
