/* main.c - placeholder until the CLI lands; dispatch only. */
int main(void)
{
    return 0;
}
