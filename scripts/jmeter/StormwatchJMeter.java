// Starts Debian's JMeter 2.13 (`jmeter` package) so that it can load test plans.
//
// Debian 12 ships JMeter 2.13 with XStream 1.4.20, whose security framework (since 1.4.18)
// refuses every class that is not explicitly allowed; JMeter 2.13 predates it and allows
// none, so `jmeter -n -t plan.jmx` stops at once with
// "Error in NonGUIDriver com.thoughtworks.xstream.security.ForbiddenClassException:
// org.apache.jmeter.save.ScriptWrapper". This launcher does what NewDriver does, but first
// allows JMeter's own classes (org.apache.jmeter.**, org.apache.jorphan.**) in the two
// XStream instances of JMeter's SaveService (test plans and JTL files), then runs JMeter
// with the same arguments.
//
// Run with Java 11+ in source-file mode (no build step):
//   java -Djmeter.home=/usr/share/jmeter -cp /usr/share/jmeter/bin/ApacheJMeter.jar \
//        scripts/jmeter/StormwatchJMeter.java -n -t plan.jmx -l out.jtl ...

import java.lang.reflect.Field;
import java.lang.reflect.Method;

public final class StormwatchJMeter {
    private StormwatchJMeter() {}

    public static void main(String[] args) throws Exception {
        // NewDriver's static initialiser builds JMeter's class loader (lib/, lib/ext/).
        Class<?> driver = Class.forName("org.apache.jmeter.NewDriver");
        Field loaderField = driver.getDeclaredField("loader");
        loaderField.setAccessible(true);
        ClassLoader loader = (ClassLoader) loaderField.get(null);
        Thread.currentThread().setContextClassLoader(loader);

        // SaveService reads saveservice.properties from JMeter's home when it is initialised.
        String home = System.getProperty("jmeter.home", "/usr/share/jmeter");
        Class<?> utils = Class.forName("org.apache.jmeter.util.JMeterUtils", true, loader);
        utils.getMethod("setJMeterHome", String.class).invoke(null, home);
        utils.getMethod("loadJMeterProperties", String.class)
                .invoke(null, home + "/bin/jmeter.properties");

        Class<?> save = Class.forName("org.apache.jmeter.save.SaveService", true, loader);
        String[] allowed = {"org.apache.jmeter.**", "org.apache.jorphan.**"};
        for (String name : new String[] {"JMXSAVER", "JTLSAVER"}) {
            Field field = save.getDeclaredField(name);
            field.setAccessible(true);
            Object xstream = field.get(null);
            Method allow = xstream.getClass().getMethod("allowTypesByWildcard", String[].class);
            allow.invoke(xstream, (Object) allowed);
        }

        driver.getMethod("main", String[].class).invoke(null, (Object) args);
    }
}
