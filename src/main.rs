fn main() -> std::process::ExitCode {
    calico_migrate::main()
}
