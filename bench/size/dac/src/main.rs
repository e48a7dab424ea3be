//! Gets a token through DefaultAzureCredential (its default features) and prints when it
//! expires: the size table's "everything" program.
use identity_chain::DefaultAzureCredential;
use identity_core::BlockingTokenCredential;

fn main() {
    let result = DefaultAzureCredential::new()
        .and_then(|c| c.get_token_blocking(&"https://management.azure.com/.default".into()));
    match result {
        Ok(token) => println!("token expires at {}", token.expires_on_unix()),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
